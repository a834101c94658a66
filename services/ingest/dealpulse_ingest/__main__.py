from dealpulse_common.service import serve
from dealpulse_ingest.app import create_app
from dealpulse_ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
