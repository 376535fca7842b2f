"""What the separately deployed services share as code: input rules at their HTTP edges
(http_input.py, standard library only), opening and migrating a store (db.py, SQLAlchemy and
Alembic, which every service with a store has) and the privacy commands' contract
(privacy.py).
"""
