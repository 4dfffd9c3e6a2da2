"""Who answers the queries: the :class:`Oracle` protocol, the registry, and the built-in oracles.

Importing this package registers every built-in oracle (importing its module runs the decorator).
"""

from prefrl.oracles.base import ORACLES, Oracle, make_oracle, register_oracle
from prefrl.oracles.synthetic import SyntheticOracle

__all__ = ["ORACLES", "Oracle", "SyntheticOracle", "make_oracle", "register_oracle"]
