from services.consumer.main import run

run()
