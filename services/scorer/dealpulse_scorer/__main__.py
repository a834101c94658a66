from dealpulse_common.service import serve
from dealpulse_scorer.app import create_app
from dealpulse_scorer.settings import ScorerSettings


def main() -> None:
    settings = ScorerSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
