from dealpulse_common.service import serve
from dealpulse_gateway.app import create_app
from dealpulse_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
