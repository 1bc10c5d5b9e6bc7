"""How wide the ledger's text columns are, for the models (``models.py``) and for the option
types that take their values from the command line (``raxx.gate.command_support``), so an
overlong value is a usage error before anything is written. Light: no SQLAlchemy."""

from raxx.common.actors import ACTOR_LENGTH

APP = 40
ENVIRONMENT = 40
RELEASE_ID = 200
COMMIT = 64
TAG = 200
ARTIFACT = 200
ACTOR = ACTOR_LENGTH
COMPONENT = 80
SUBJECT = 80
ITEM = 80
