"""Who answers the queries: the :class:`Oracle` protocol, the registry, and the built-in oracles.

Importing this package registers every built-in oracle (importing its module runs the decorator).
"""

from prefrl.oracles.base import ORACLES, Oracle, OracleSession, make_oracle, oracle_from_config, register_oracle
from prefrl.oracles.human import HumanOracle, TerminalOracle
from prefrl.oracles.synthetic import SyntheticOracle

__all__ = [
    "ORACLES",
    "HumanOracle",
    "Oracle",
    "OracleSession",
    "SyntheticOracle",
    "TerminalOracle",
    "make_oracle",
    "oracle_from_config",
    "register_oracle",
]
