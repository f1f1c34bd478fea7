from services.api.main import run

run()
