"""The operator's dashboard (SPEC §13): `tillpost serve WORKSPACE --db DB`.

    app.py      routes, sign-in, sessions, CSRF, access; every page with its JSON twin under /api/
    views.py    what each page shows, read in one snapshot of the ledger
    days.py     which days are complete (the calendar and the overview), as `status` decides
    chart.py    the turnover chart's geometry (SVG, drawn on the server)
    actions.py  retry errors, trial and final runs: the command line's runs, started from a page
    users.py    users, roles, grants, argon2 hashes and the session key, in the ledger

Templates are in templates/, the stylesheet and the vendored htmx in static/ (see VENDORED.txt).
"""
