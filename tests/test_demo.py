"""/demo driven in headless Chromium against a live server, with real photos; and /docs rendered,
with a screenshot. Chromium and chromedriver come from Debian (`make browser`, run by `make test`).
The server loads the face models before it serves, so both tests are marked `faces`."""

import json
import shutil
import struct
import urllib.request

import pytest
from django.conf import settings

from tests.live import database_url, gunicorn_server

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)
# deepface-a's first three photos enroll; a fourth is the live photo; deepface-b is someone else.
ENROLL = ("deepface-a_img1.jpg", "deepface-a_img2.jpg", "deepface-a_img4.jpg")
GENUINE = "deepface-a_img7.jpg"
IMPOSTOR = "deepface-b_img8.jpg"

pytestmark = [
    pytest.mark.faces,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="Debian's chromium and chromium-driver are not installed and `make browser` could not install them",
    ),
]


@pytest.fixture
def server(transactional_db, tmp_path):
    url = database_url(settings.DATABASES["default"])
    if url is None:
        pytest.skip("the live server runs on the PostgreSQL test database; set DATABASE_URL")
    # The token key of this process, so that the test can derive the one-time codes the server sends.
    with gunicorn_server(
        tmp_path / "gunicorn.log", DATABASE_URL=url, FACENITION_WARM_UP="1",
        FACENITION_TOKEN_KEY=settings.FACENITION_TOKEN_KEY, FACENITION_RETIRED_TOKEN_KEYS="",
    ) as base:  # fmt: skip
        yield base


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def verdict(browser, name, timeout=120):
    """The verdict the page shows once the call is answered."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    element = browser.find_element(By.ID, f"{name}-verdict")
    WebDriverWait(browser, timeout).until(lambda _: not element.text.endswith("…") and element.text)
    return element.text


def choose(browser, input_id, *paths):
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, input_id)
    field.clear()
    field.send_keys("\n".join(str(path.resolve()) for path in paths))


def click(browser, button_id):
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, button_id).click()


def test_the_demo_page_shows_the_verdicts_of_real_photos(server, browser, photo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/demo")
    click(browser, "get-token")
    assert verdict(browser, "token").startswith("Client token issued")
    assert browser.find_element(By.ID, "token").get_attribute("value").startswith("fnc_")

    choose(browser, "match-image", photo(ENROLL[0]).path)
    choose(browser, "match-reference", photo(GENUINE).path)
    click(browser, "match")
    assert verdict(browser, "match") == "Same person"
    canvases = browser.find_elements(By.CSS_SELECTOR, "#match-photos canvas")
    assert [canvas.get_attribute("data-faces") for canvas in canvases] == ["1", "1"]
    WebDriverWait(browser, 10).until(lambda _: int(canvases[0].get_attribute("width")) > 300)

    choose(browser, "match-reference", photo(IMPOSTOR).path)
    click(browser, "match")
    assert verdict(browser, "match") == "Different people"

    choose(browser, "generate-image", *(photo(name).path for name in ENROLL))
    click(browser, "generate")
    assert verdict(browser, "generate") == "Identity token issued"
    assert browser.find_element(By.ID, "identity-token").get_attribute("value").startswith("fit2_")

    choose(browser, "authenticate-image", photo(GENUINE).path)
    click(browser, "authenticate")
    assert verdict(browser, "authenticate") == "Authenticated"

    choose(browser, "authenticate-image", photo(IMPOSTOR).path)
    click(browser, "authenticate")
    assert verdict(browser, "authenticate") == "Not authenticated"
    assert '"authenticated": false' in browser.find_element(By.ID, "authenticate-json").text


def screenshot(browser, path):
    assert browser.save_screenshot(str(path))
    png = path.read_bytes()
    width, height = struct.unpack(">II", png[16:24])
    assert png.startswith(b"\x89PNG") and width >= 800 and height >= 600
    print(f"screenshot: {path}")


def test_the_demo_page_signs_up_on_v2_and_enrolls_identifies_and_forgets_in_a_gallery(server, browser, photo, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from credentials.models import Channel, Verification

    browser.get(f"{server}/demo")
    email, phone = "demo@example.test", "+14155550199"
    browser.find_element(By.ID, "signup-email").send_keys(email)
    browser.find_element(By.ID, "signup-phone").send_keys(phone)
    click(browser, "signup-send")
    assert verdict(browser, "signup").startswith("Codes sent")
    sent = Verification.objects.get(email=email)  # where a development server's console shows them
    browser.find_element(By.ID, "signup-email-code").send_keys(sent.code_for(Channel.EMAIL))
    browser.find_element(By.ID, "signup-sms-code").send_keys(sent.code_for(Channel.SMS))
    click(browser, "signup-confirm")
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "signup-verdict").text.startswith("Verified:"))
    click(browser, "signup-claim")
    WebDriverWait(browser, 30).until(lambda b: "client token issued" in b.find_element(By.ID, "signup-verdict").text)
    v2_token = browser.find_element(By.ID, "token").get_attribute("value")
    assert v2_token.startswith("fnc_")
    described = json.load(
        urllib.request.urlopen(urllib.request.Request(f"{server}/token", data=b"", method="POST", headers={"X-Auth-Token": v2_token}))
    )  # fmt: skip
    assert described["verified"] is True and described["api_version"] == "2"
    screenshot(browser, tmp_path / "demo-signup.png")

    browser.find_element(By.ID, "gallery-subject").clear()
    browser.find_element(By.ID, "gallery-subject").send_keys("ada")
    choose(browser, "gallery-enroll-image", *(photo(name).path for name in ENROLL))
    click(browser, "gallery-enroll")
    assert verdict(browser, "gallery-enroll") == "Enrolled ada (3 faces in all)"

    choose(browser, "gallery-identify-image", photo(GENUINE).path)
    click(browser, "gallery-identify")
    assert verdict(browser, "gallery") == "Found: ada"
    [canvas] = browser.find_elements(By.CSS_SELECTOR, "#gallery-photos canvas")
    WebDriverWait(browser, 10).until(lambda _: canvas.get_attribute("data-drawn") == "yes")
    assert canvas.get_attribute("data-faces") == "1"
    screenshot(browser, tmp_path / "demo-gallery.png")

    choose(browser, "gallery-identify-image", photo(IMPOSTOR).path)
    click(browser, "gallery-identify")
    assert verdict(browser, "gallery") == "Nobody known"

    click(browser, "gallery-forget")
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "gallery-verdict").text.startswith("Forgot ada"))
    choose(browser, "gallery-identify-image", photo(GENUINE).path)
    click(browser, "gallery-identify")
    assert verdict(browser, "gallery") == "Nobody known"


def test_the_docs_render_every_endpoint_offline(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with urllib.request.urlopen(f"{server}/ready", timeout=30) as ready:  # the models loaded before serving
        assert json.load(ready)["checks"]["models"] == "loaded"

    browser.get(f"{server}/docs")
    WebDriverWait(browser, 60).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= 17)
    assert "Facenition API" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    screenshot(browser, tmp_path / "docs.png")
