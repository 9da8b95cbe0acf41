"""Driving the FiftyOne App (1.x) with Playwright: the operator browser, the
operator forms FiftyOne renders from an operator's ``resolve_input``, and
panels.

Selectors: the App's own ``data-cy`` attributes where it has them
(``action-browse-operations``, ``operators-browser``,
``operators-browser-search``, ``operators-prompt-modal``, ``new-panel-btn``,
``new-panel-option-<name>``, ``panel-tab-<name>``); form fields are found by
their label text (FiftyOne renders a ``<p>`` per label, not a ``<label
for>``), then the control inside the smallest block around that label:
radio buttons by value, MUI selects (``div[role=combobox]``) by option,
autocompletes (``input[role=combobox]``) and text inputs by typing,
checkboxes by state.
"""

import json
import re
import time

# what a form control is, in XPath (a select's hidden input is not one)
FORM_CONTROLS = ".//input[not(@aria-hidden='true')] | .//textarea | .//*[@role='combobox']"
_HAS_CONTROL = ".//input[not(@aria-hidden='true')] or .//textarea or .//*[@role='combobox']"

# the App's requests while a form is (re)built from the operator's resolve_input
_FORM_REQUESTS = ("/operators/resolve-type", "/operators/resolve-execution-options", "/operators/resolve-placements")

# window.IS_PLAYWRIGHT: the App's own switch for its end-to-end tests (no
# "Explore Enterprise" popover over the page, no analytics, no toasts)
INIT_SCRIPT = "window.IS_PLAYWRIGHT = true;"


def xpath_literal(text):
    if "'" not in text:
        return "'%s'" % text
    if '"' not in text:
        return '"%s"' % text
    return "concat(%s)" % ', "\'", '.join("'%s'" % part for part in text.split("'"))


class FormTraffic:
    """Watches the App's form-resolving requests, so that a test acts on a
    form only once FiftyOne has rebuilt it after a change (the App sends
    them about 0.2 s after an edit)."""

    def __init__(self, page):
        self.page = page
        self.pending = set()
        self.last_start = self.last_change = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    @staticmethod
    def _tracked(request):
        return any(path in request.url for path in _FORM_REQUESTS)

    def _started(self, request):
        if self._tracked(request):
            self.pending.add(request)
            self.last_start = self.last_change = time.monotonic()

    def _ended(self, request):
        if request in self.pending:
            self.pending.discard(request)
            self.last_change = time.monotonic()

    def settle(self, since=None, wait_start=2.0, quiet=0.5, timeout=60):
        """Waits for the form to settle: for a request started after
        ``since`` (a ``time.monotonic()`` before the change; at most
        ``wait_start`` seconds: not every change makes one), then until none
        has been in flight for ``quiet`` seconds."""
        start = time.monotonic()
        if since is not None:
            while self.last_start < since and time.monotonic() - start < wait_start:
                self.page.wait_for_timeout(50)
        while self.pending or time.monotonic() - self.last_change < quiet:
            if time.monotonic() - start > timeout:
                raise AssertionError("the operator form kept resolving for %d s" % timeout)
            self.page.wait_for_timeout(50)


def open_dataset(page, url, timeout=60000):
    """Opens the App at a dataset's URL and waits for its grid."""
    page.goto(url)
    page.locator("[data-cy=action-browse-operations]").wait_for(timeout=timeout)
    page.get_by_text(re.compile(r"^\d+ samples?$")).first.wait_for(timeout=timeout)


def open_operator_browser(page, query, keyboard=False):
    """Opens the operator browser (its button in the grid's action bar, or
    with ``keyboard`` the backtick key) and searches ``query``; returns the
    browser's dialog."""
    if keyboard:
        page.keyboard.press("Backquote")
    else:
        page.locator("[data-cy=action-browse-operations]").click()
    browser = page.locator("[data-cy=operators-browser]")
    browser.wait_for()
    page.locator("[data-cy=operators-browser-search]").fill(query)
    return browser


def open_operator(page, query, name, keyboard=False, traffic=None):
    """Opens the form of operator ``name`` (its name as the browser shows
    it, right of its label) found by searching ``query``; returns the
    prompt dialog (once the form has settled, with ``traffic``)."""
    since = time.monotonic()
    browser = open_operator_browser(page, query, keyboard=keyboard)
    browser.get_by_text(name, exact=True).click()
    modal = page.locator("[data-cy=operators-prompt-modal]")
    modal.wait_for()
    if traffic is not None:
        traffic.settle(since)
    return modal


def form_field(scope, label, timeout=15000):
    """The smallest block of a form that holds the label ``label`` and a
    control (a header with the same text sits in a larger block)."""
    literal = xpath_literal(label)
    scope.locator("xpath=.//*[normalize-space(text())=%s]" % literal).first.wait_for(timeout=timeout)
    blocks = scope.locator("xpath=.//*[normalize-space(text())=%s]/ancestor::div[%s][1]" % (literal, _HAS_CONTROL))
    count = blocks.count()
    if not count:
        raise AssertionError("no form control near the label %r" % label)
    sizes = [blocks.nth(i).locator("xpath=" + FORM_CONTROLS).count() for i in range(count)]
    return blocks.nth(sizes.index(min(sizes)))


def set_field(page, scope, label, value, traffic=None):
    """Sets the form field labelled ``label`` to ``value``, whatever control
    FiftyOne rendered for it; with ``traffic`` (a :class:`FormTraffic`),
    waits for the form to settle after the change."""
    since = time.monotonic()
    _set_control(page, form_field(scope, label), value)
    if traffic is not None:
        traffic.settle(since)


def _set_control(page, block, value):
    radios = block.locator("input[type=radio]")
    if radios.count():
        block.locator("input[type=radio][value=%s]" % json.dumps(str(value))).check()
        return
    checkboxes = block.locator("input[type=checkbox]")
    if checkboxes.count():
        checkboxes.first.set_checked(bool(value))
        return
    select = block.locator("div[role=combobox]")
    if select.count():
        if select.first.inner_text().strip() != str(value):
            select.first.click()
            listbox = page.locator("[role=listbox]").last
            listbox.wait_for()
            option = listbox.locator("[role=option][data-value=%s]" % json.dumps(str(value)))
            if not option.count():
                option = listbox.get_by_role("option", name=str(value), exact=True)
            option.click()
            listbox.wait_for(state="hidden")
        return
    text = block.locator("xpath=.//input[not(@aria-hidden='true')] | .//textarea").first
    text.fill(str(value))
    if text.get_attribute("role") == "combobox":
        # an autocomplete that takes typed values: leave it, so that its
        # list of suggestions closes and the value is kept
        text.press("Tab")


def field_value(scope, label):
    """What the form field labelled ``label`` shows."""
    block = form_field(scope, label)
    select = block.locator("div[role=combobox]")
    if select.count():
        return select.first.inner_text().strip()
    checked = block.locator("input[type=radio]:checked, input[type=checkbox]")
    if checked.count():
        control = checked.first
        return control.get_attribute("value") if control.get_attribute("type") == "radio" else control.is_checked()
    return block.locator("xpath=.//input[not(@aria-hidden='true')] | .//textarea").first.input_value()


def execute(page, modal, operator_uri, timeout=120000):
    """Clicks the form's Execute button and waits for the App's execution
    request of ``operator_uri``; returns its answer (``result``, ``error``,
    ...). The dialog then shows the operator's output or closes."""
    button = modal.get_by_role("button", name="Execute", exact=True)
    deadline = time.monotonic() + 30
    while not button.is_enabled():
        if time.monotonic() > deadline:
            raise AssertionError("the Execute button of %s stayed disabled:\n%s" % (operator_uri, modal.inner_text()))
        page.wait_for_timeout(100)

    def is_execution(response):
        if "/operators/execute" not in response.url or response.request.method != "POST":
            return False
        try:
            return json.loads(response.request.post_data or "{}").get("operator_uri") == operator_uri
        except ValueError:
            return False

    with page.expect_response(is_execution, timeout=timeout) as answer:
        button.click()
    response = answer.value
    try:
        body = response.json()
    except Exception:
        body = {"error": "HTTP %d: %s" % (response.status, response.text()[:2000])}
    if not response.ok and not body.get("error"):
        body["error"] = "HTTP %d" % response.status
    return body


def close_output(page, modal, screenshot=None, timeout=30000):
    """Waits for the operator's output in the dialog, returns its text (a
    screenshot of the page to ``screenshot``), and closes it; returns None
    if the dialog closed by itself."""
    close = modal.get_by_role("button", name="Close", exact=True)
    deadline = time.monotonic() + timeout / 1000.0
    while True:
        if not modal.is_visible():
            return None
        if close.is_visible():
            # the Close button can render a moment before the output itself
            text = modal.inner_text()
            settle = time.monotonic() + 10
            while text.strip() in ("", "Close") and time.monotonic() < settle:
                page.wait_for_timeout(100)
                text = modal.inner_text()
            if screenshot:
                page.screenshot(path=screenshot)
            close.click()
            modal.wait_for(state="hidden")
            return text
        if time.monotonic() > deadline:
            raise AssertionError("the operator's dialog showed no output:\n%s" % modal.inner_text())
        page.wait_for_timeout(100)


def open_panel(page, name):
    """Opens panel ``name`` from the grid's "+" menu; returns its tab."""
    page.locator("[data-cy=new-panel-btn]").first.click()
    page.locator("[data-cy=new-panel-option-%s]" % name).click()
    tab = page.locator("[data-cy=panel-tab-%s]" % name.lower())
    tab.wait_for()
    return tab
