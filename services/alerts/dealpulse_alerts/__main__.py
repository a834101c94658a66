from dealpulse_common.service import serve

from dealpulse_alerts.app import create_app
from dealpulse_alerts.settings import AlertsSettings


def main() -> None:
    settings = AlertsSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
