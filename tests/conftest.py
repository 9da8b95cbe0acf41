import os

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Tests never touch the user's FiftyOne database or Label Studio data: both
# live under the project's cache directory (set before FiftyOne is imported).
os.environ.setdefault("FOAB_CACHE_DIR", os.path.join(_ROOT, ".cache"))
os.environ.setdefault("FIFTYONE_DATABASE_DIR", os.path.join(os.environ["FOAB_CACHE_DIR"], "fiftyone-db"))
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
