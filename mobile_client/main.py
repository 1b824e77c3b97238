"""Android entry point (buildozer runs ``main.py``): the client on the phone's own device database.

On a desktop use ``realty-edge app`` instead.
"""

from __future__ import annotations

import os
from pathlib import Path


def main() -> None:
    from mobile_client.config import PHONE, configure

    configure(*PHONE)  # before anything imports Kivy
    from mobile_client.app import run_app

    home = Path(os.environ.get("ANDROID_PRIVATE", Path.home() / ".realty-edge"))
    home.mkdir(parents=True, exist_ok=True)
    run_app(home / "device.db", server=os.environ.get("REALTY_EDGE_SERVER"), create=True)


if __name__ == "__main__":
    main()
