"""Package build for whisperspeech: every field comes from settings.ini (shared with nbdev)."""

from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]


def words(key):
    "A space-separated settings.ini field as a list."
    return cfg.get(key, "").split()


readme = Path(__file__).parent / "README.md"
setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=readme.read_text(encoding="utf-8") if readme.exists() else "",
    long_description_content_type="text/markdown",
    author=cfg["author"],
    license="MIT",
    keywords=cfg["keywords"],
    python_requires=">=" + cfg["min_python"],
    packages=setuptools.find_packages(include=[cfg["lib_path"], cfg["lib_path"] + ".*"]),
    include_package_data=True,
    package_data={cfg["lib_path"]: ["voice/*.model", "voice/*.pt", "voice/*.md", "voice/*.json"]},  # the embedded voice
    install_requires=words("requirements"),
    extras_require={group: words(f"{group}_requirements") for group in ("dev", "train", "serve", "fast", "eval")},
    entry_points={
        "console_scripts": words("console_scripts"),
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    zip_safe=False,
)
