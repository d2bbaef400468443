"""Drop scripts that a page would include twice.

sphinx-thebe (loaded by Jupyter Book whether or not Thebe is used) and
sphinx-togglebutton add inline scripts with ``app.add_js_file(None, body=...)`` after the
HTML builder has read the registry, and Sphinx 7.4 keeps both copies (one with filename
``None``, one with ``""``, so they do not compare equal). Every page then declared
``const THEBE_JS_URL`` twice and the browser logged ``SyntaxError: Identifier
'THEBE_JS_URL' has already been declared``. This keeps the first of each script that has
the same file (or none), priority and attributes (the inline body is one of them).
"""


def _key(script):
    attributes = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
    return (getattr(script, "filename", script) or "", getattr(script, "priority", 500), attributes)


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=200)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
