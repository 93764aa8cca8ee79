"""The desktop-side server (an OSWorld VM API subset); runs under the desktop user's Python,
copied into each session as the `lbi_vmserver` package. Imports nothing from lbi_icl."""
