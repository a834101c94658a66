from dealpulse_common.service import serve
from dealpulse_verdict.app import create_app
from dealpulse_verdict.settings import VerdictSettings


def main() -> None:
    settings = VerdictSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
