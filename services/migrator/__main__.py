from services.migrator.main import run

run()
