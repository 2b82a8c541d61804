"""End to end in a real headless Chromium: a visitor of the portal uses the web chat.

The bot runs with its real dispatcher, handlers, texts and an SQLite database on a local
port (:class:`devtools.webchat_server.WebChatServer`); the browser is Debian's
``chromium`` driven by Selenium through ``chromedriver``. Without them these tests skip,
saying so; ``.ci/run`` installs them and sets ``REQUIRE_CHROMIUM=1`` so CI always runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.webchat_server import WebChatServer
from tests.web.browser import Page, chrome, require_chromium

pytestmark = pytest.mark.e2e
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebChatServer]:
    require_chromium()
    path = tmp_path_factory.mktemp("webchat") / "bot.db"
    running = WebChatServer(f"sqlite+aiosqlite:///{path}", flood_limit=0).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def driver(server: WebChatServer) -> Iterator[Any]:
    browser = chrome()
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver: Any, server: WebChatServer) -> Page:
    """A new visitor: no cookie, so a new web user."""
    driver.get(f"{server.url}/chat")
    driver.delete_all_cookies()
    return Page(driver, server.url)


def start(page: Page, lang: str, label: str) -> None:
    page.open(lang)
    page.wait_text("Қазақша")  # /start is sent on the first visit: the language choice
    page.press(label, {"kk": "Тіл", "ru": "Язык", "en": "Language"}[lang])


@pytest.mark.parametrize(
    ("lang", "label", "question"),
    [
        ("kk", "Қазақша", "Қашықтықтан оқуға өтінішті қалай беремін?"),
        ("ru", "Русский", "Как подать заявление на дистанционное обучение?"),
        ("en", "English", "How do I apply for distance learning?"),
    ],
)
def test_a_question_in_each_language_is_answered_with_the_cited_clause(
    page: Page, lang: str, label: str, question: str
) -> None:
    start(page, lang, label)
    answer = page.say(question, r"\b5\.\d+\.\d+", sender="bot")
    assert "066" in answer or "5." in answer
    assert page.driver.find_element("css selector", "html").get_attribute("lang") == lang


def test_an_answer_button_shows_the_whole_clause(page: Page) -> None:
    start(page, "en", "English")
    page.say("How do I apply for distance learning?", r"5\.2\.2", sender="bot")
    full = page.press("Full clause", r"Participants of international")
    assert "training camps" in full


def test_the_distance_learning_wizard_ends_with_a_reference_and_a_statement(
    page: Page, tmp_path: Path
) -> None:
    start(page, "en", "English")
    page.say("/apply", "Distance learning")
    page.press("Distance learning (DL)", "On what ground")
    page.press("Health condition", "Who is applying")
    page.press("I am a parent", "Your full name")
    page.say("Seitkalieva Gulnar", "The student's full name")
    page.say("Seitkaliev Arman", "IIN")
    page.say("900101300126", "educational programme")
    page.say("6B06102", "Which course year")
    page.press("2", "First day")
    page.say("01.02.2027", "Last day")
    page.say("30.06.2027", "phone number")
    page.say("87012345678", "supporting document")
    certificate = tmp_path / "certificate.pdf"
    certificate.write_bytes(PDF)
    page.attach(str(certificate), "Your application")
    done = page.press("Submit", r"Reference number: DL-\d{4}-\d{5}")
    assert "DL-" in done
    page.wait_text("Your statement to the Rector")
    links = page.driver.find_elements("css selector", ".msg a.file")
    assert links, "the statement is a download link"
    got = page.fetch(links[-2].get_attribute("href"))
    assert got["status"] == 200 and "attachment" in got["disposition"] and got["size"] > 1000


def test_a_helpdesk_ticket_gets_the_staff_answer_in_the_browser(
    page: Page, server: WebChatServer
) -> None:
    start(page, "en", "English")
    page.say("/human", "What is it about")
    page.press("Technical problem", "write your question")
    page.say("My LMS password does not work", "Request #")
    server.staff_reply("Reset it at lms.atyrau.edu.kz — Dana")
    staff = page.wait_text("Reset it at lms", sender="staff")
    assert "Dana" in staff


def test_a_reload_shows_the_history_and_a_dropped_connection_loses_nothing(
    page: Page, server: WebChatServer
) -> None:
    start(page, "en", "English")
    page.say("/human", "What is it about")
    page.press("Other", "write your question")
    page.say("Can I get my diploma by post?", "Request #")
    page.driver.refresh()
    page.wait_for(lambda d: d.execute_script("return window.webchat && 1") == 1)
    page.wait_text("Can I get my diploma by post", sender="user")
    page.wait_text("Request #")
    # The connection drops; the staff answer arrives meanwhile; the page reconnects.
    page.driver.execute_script("window.webchat.drop()")
    server.staff_reply("Yes, by registered post.")
    page.wait_text("registered post", sender="staff")
    texts = [b.text for b in page.bubbles("staff")]
    assert sum("registered post" in t for t in texts) == 1  # shown once


def test_a_closed_browser_finds_the_staff_answer_on_return(
    page: Page, server: WebChatServer, driver: Any
) -> None:
    start(page, "en", "English")
    page.say("/human", "What is it about")
    page.press("Schedule and access", "write your question")
    page.say("When is the exam session?", "Request #")
    driver.get("about:blank")  # the page is closed
    server.staff_reply("The session starts on 12 January.")
    page.open("en")
    page.wait_text("12 January", sender="staff")


def test_keyboard_only_a_visitor_reaches_the_buttons_and_the_answer_is_announced(
    page: Page,
) -> None:
    """No mouse: Tab reaches the language buttons, Enter presses one; new messages land in an
    aria-live log; the message box has a label."""
    from selenium.webdriver.common.keys import Keys

    page.open("en")
    page.wait_text("Қазақша")
    driver = page.driver
    log = driver.find_element("id", "log")
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    assert driver.find_element("css selector", "label[for=text]").get_attribute("textContent")
    before = page.count()
    for _ in range(30):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element.text == "English":
            break
    else:
        raise AssertionError("Tab never reached the «English» button")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    page.wait_text("Language: English", after=before - 1)
    focused = driver.switch_to.active_element
    assert focused.tag_name in {"button", "textarea"}, "focus stays in the chat after a press"
