"""Environment-bound API tokens: ``rxp_<env>_<tokenid>_<secret>``; only a hash is stored."""
