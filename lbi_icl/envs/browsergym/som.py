"""Set-of-marks: each element's bid drawn on the page's screenshot (runs in the browser
worker). Our own drawing from what BrowserGym reports per element
(`extra_element_properties`: `bbox` [x, y, width, height] in viewport pixels, `visibility`,
`set_of_marks` = BrowserGym's choice of elements worth a mark): a rectangle around the
element and its bid in a filled label at the rectangle's top-left corner, kept inside the
image. Colours cycle so neighbours differ.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

VISIBLE = 0.5
COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#9a6324")


def marked_elements(props: dict[str, Any]) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(bid, (x, y, w, h)) of the visible elements BrowserGym marks, in bid order."""
    out = []
    for bid, p in props.items():
        if not isinstance(p, dict) or not p.get("set_of_marks"):
            continue
        box = p.get("bbox")
        if not box or float(p.get("visibility") or 0.0) < VISIBLE:
            continue
        x, y, w, h = (float(v) for v in box)
        if w <= 0 or h <= 0:
            continue
        out.append((str(bid), (x, y, w, h)))
    return sorted(out, key=lambda e: (len(e[0]), e[0]))


def draw_marks(image: Any, props: dict[str, Any]) -> Any:
    """A copy of the PIL `image` with the marks drawn."""
    from PIL import ImageDraw, ImageFont

    img = image.convert("RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    width, height = img.size
    for i, (bid, (x, y, w, h)) in enumerate(marked_elements(props)):
        colour = COLOURS[i % len(COLOURS)]
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=1)
        left, top, right, bottom = draw.textbbox((0, 0), bid, font=font)
        tw, th = right - left + 2, bottom - top + 2
        lx = min(max(0.0, x), max(0.0, width - tw))
        ly = min(max(0.0, y - th if y - th >= 0 else y), max(0.0, height - th))
        draw.rectangle([lx, ly, lx + tw, ly + th], fill=colour)
        draw.text((lx + 1 - left, ly + 1 - top), bid, fill="white", font=font)
    return img


def save_png(obs: dict[str, Any], path: str, *, marks: bool) -> str | None:
    """Write the observation's screenshot (with marks if asked) to `path` atomically;
    None when the observation has no screenshot."""
    shot = obs.get("screenshot")
    if shot is None or getattr(shot, "size", 0) == 0:
        return None
    from PIL import Image

    img = Image.fromarray(shot)
    if marks:
        img = draw_marks(img, obs.get("extra_element_properties") or {})
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            img.save(fh, format="PNG")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
