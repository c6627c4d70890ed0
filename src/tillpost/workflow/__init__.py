"""The consultant workflow: client folders, snapshot-locked cases, fmt, diff and lint."""
