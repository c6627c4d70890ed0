"""Description templates (`describe turnover "Dagomzet {date} {store}"`), checked before booking.

An entry's description is the template with its placeholders filled in by
`str.format`. A template passes only if that can never fail: placeholders are
plain names from the allowed list — no format spec (`{date:%Y}`), conversion
(`{date!r}`), attribute or index (`{date.year}`, `{date[0]}`) or position
(`{}`, `{0}`), each of which would make every booking of the day raise.
"""

from __future__ import annotations

import re
import string

from .syntax import did_you_mean


def _braced(name: str) -> str:
    return "{" + name + "}"


def template_problems(template: str, allowed: tuple[str, ...], what: str, note: str = "") -> list[str]:
    """What is wrong with a template, one message per problem. `what` names the template
    ("the turnover description"); `note` is added to an unknown placeholder's message."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        return [f"bad description template: {e}"]
    problems = []
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        written = _braced(field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else ""))
        name = re.split(r"[.\[]", field, maxsplit=1)[0]
        if not name or name.isdigit():
            problems.append(f"{written} in {what} names no field: a placeholder is a name in braces, "
                            f"one of " + ", ".join(map(_braced, allowed)))
            continue
        if conversion is not None:
            problems.append(f"{written} in {what}: a placeholder takes no conversion (!{conversion}); "
                            f"write {_braced(name)}")
        elif spec:
            problems.append(f"{written} in {what}: a placeholder takes no format (:{spec}); write {_braced(name)}")
        elif name != field:
            problems.append(f"{written} in {what}: a placeholder is a plain name, without . or [ ]; "
                            f"write {_braced(name)}")
        if name not in allowed:
            guess = did_you_mean(name, allowed)
            problems.append(f"unknown placeholder {_braced(name)} in {what}; expected one of "
                            + ", ".join(map(_braced, allowed)) + note
                            + (f"; did you mean {_braced(guess)}?" if guess else ""))
    return problems
