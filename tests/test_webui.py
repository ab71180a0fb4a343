"""The Gradio page in a real browser: headless Chromium types text, clicks Generate, and gets an audio player."""

import shutil
import socket
from pathlib import Path

import pytest

from whisperspeech.pipeline import Pipeline

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian's chromium and chromium-driver (bash scripts/install_sysdeps.sh --browser)",
)
def test_generate_in_headless_chromium(tiny_bundle):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    from whisperspeech.webui import launch

    port = _free_port()
    app = launch(Pipeline(model=tiny_bundle, quiet=True), port=port, block=False)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 120)
        box = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#text textarea")))
        box.send_keys("Hello from the browser test.")
        driver.find_element(By.CSS_SELECTOR, "#generate").click()
        src = wait.until(
            lambda d: next(
                (
                    a.get_attribute("src")
                    for a in d.find_elements(By.CSS_SELECTOR, "#speech audio")
                    if a.get_attribute("src")
                ),
                None,
            )
        )
        assert src.startswith(("http", "blob:", "data:"))
        info = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#info").text or None)
        assert "real-time factor" in info
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "webui.png"))
        assert (ARTIFACTS / "webui.png").stat().st_size > 10_000
    finally:
        driver.quit()
        app.close()


def test_the_ui_command_serves_the_page(tiny_bundle, serving):
    with serving("ui", "--model", str(tiny_bundle)) as (url, page):
        assert page.status_code == 200 and "WhisperSpeech" in page.text


def test_a_clone_tuned_on_the_uploaded_recording(tmp_path):
    """The page's API (Gradio's client, as a script would call it): with tune steps, the uploaded recording's clone
    speaks through an S2A tuned on it, and sounds different from the untuned clone."""
    import soundfile as sf
    from bundles import random_bundle
    from gradio_client import Client, handle_file
    from whisperspeech.system_voices import speak_system
    from whisperspeech.webui import DEFAULT_VOICE, launch

    folder = random_bundle(tmp_path / "bundle", "micro", s2a="s2a-parallel", tokenizer=True)
    wav = tmp_path / "me.wav"
    speech = speak_system("We should take the long road home and stop by the river.", "espeak-ng:en+f3", sr=16000)
    sf.write(wav, speech.numpy(), 16000)
    port = _free_port()
    app = launch(Pipeline(model=folder, quiet=True), port=port, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        said = lambda steps: client.predict(
            "Hello there.", DEFAULT_VOICE, handle_file(str(wav)), "en", 0, 0, steps, api_name="/speak"
        )
        (plain, plain_info), (tuned, tuned_info) = said(0), said(20)
        assert "tuned on it (20 steps)" in tuned_info and "tuned" not in plain_info
        a, b = (sf.read(p)[0] for p in (plain, tuned))
        assert a.shape == b.shape and not (a == b).all()
    finally:
        app.close()
