from dealpulse_alerts.app import create_app
from dealpulse_alerts.settings import AlertsSettings
from dealpulse_common.service import serve


def main() -> None:
    settings = AlertsSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
