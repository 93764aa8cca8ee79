"""The project's own offline desktop task set (`lbi desktop build-tasks`): generated input
and gold files, OSWorld-format task files, keyboard-first expert solutions."""
