"""prefrl: reinforcement learning from preferences (Christiano et al. 2017), with PPO from stable-baselines3.

Importing the package registers the fixed-horizon env variants (``prefrl/FixedCartPole-v1``, ...).
"""

from prefrl import envs as _envs  # noqa: F401  (registers the fixed-horizon variants)
from prefrl.config import OracleConfig, QueryConfig, RewardConfig, RunConfig, TrainConfig
from prefrl.labeling import Labeler
from prefrl.oracles import ORACLES, SyntheticOracle, make_oracle, register_oracle
from prefrl.reward.losses import bradley_terry_loss
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.schedule import LabelSchedule
from prefrl.segments import SegmentBuffer, SegmentCutter
from prefrl.selection import SELECTORS, make_selector
from prefrl.store import ComparisonStore
from prefrl.trainer import PreferenceRL, train_config
from prefrl.types import Label, Oracle, RewardFunction, Segment, SegmentPair
from prefrl.wrappers import LearnedReward, LearnedRewardVecEnv

__all__ = [
    "ComparisonStore",
    "Label",
    "LabelSchedule",
    "Labeler",
    "LearnedReward",
    "LearnedRewardVecEnv",
    "ORACLES",
    "Oracle",
    "OracleConfig",
    "PreferenceRL",
    "QueryConfig",
    "RewardConfig",
    "RewardEnsemble",
    "RewardFunction",
    "RewardTrainer",
    "RunConfig",
    "SELECTORS",
    "Segment",
    "SegmentBuffer",
    "SegmentCutter",
    "SegmentPair",
    "SyntheticOracle",
    "TrainConfig",
    "bradley_terry_loss",
    "make_oracle",
    "make_selector",
    "register_oracle",
    "train_config",
]

__version__ = "0.1.0"
