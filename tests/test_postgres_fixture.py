import sqlalchemy as sa


def test_server_accepts_connections_and_survives_restart(postgres_server, postgres_url):
    engine = sa.create_engine(postgres_url, pool_pre_ping=True)
    with engine.connect() as c:
        assert c.execute(sa.text("select 1 + 1")).scalar() == 2
    postgres_server.restart(down_seconds=0.5)
    with engine.connect() as c:
        assert c.execute(sa.text("select 2 + 2")).scalar() == 4
    engine.dispose()
