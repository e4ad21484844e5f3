"""Active learning for conditional generation: spend a labelling budget where it helps most.

A pool of unlabelled images, an oracle that labels the items queried (a function; in the demo the
data set's hidden labels), a small CNN classifier retrained (or fine-tuned) each round, and query
strategies that pick what to label next. The labels bought this way are what a conditional
generator needs: :func:`train_conditional_generator` pseudo-labels the pool with the final
classifier and trains a conditional DCGAN or VAE on it.
"""

from .generation import (generated_label_accuracy, generation_check, pseudo_label,
                         train_conditional_generator, train_judge)
from .learner import Learner, LearnerConfig
from .loop import (ActiveResult, area_under_curve, compare_strategies, cpu_threads, format_results,
                   run_active_learning, split_pool, summarize)
from .plot import plot_learning_curves
from .pool import BudgetError, LabelOracle, LabelPool
from .strategies import (STRATEGIES, DiscriminatorStrategy, DisagreementStrategy, EntropyStrategy,
                         KCenterStrategy, QueryContext, RandomStrategy, Strategy, committee_mean,
                         discriminative_selection, entropy, kcenter_greedy, make_strategy,
                         mutual_information, register_strategy, vote_entropy)

__all__ = [
    "STRATEGIES", "ActiveResult", "generated_label_accuracy",
    "generation_check", "plot_learning_curves", "pseudo_label", "train_conditional_generator",
    "train_judge", "BudgetError", "DisagreementStrategy", "DiscriminatorStrategy",
    "EntropyStrategy", "KCenterStrategy", "LabelOracle", "LabelPool", "Learner", "LearnerConfig",
    "QueryContext", "RandomStrategy", "Strategy", "area_under_curve", "committee_mean",
    "compare_strategies", "cpu_threads", "discriminative_selection", "entropy", "format_results", "kcenter_greedy",
    "make_strategy", "mutual_information", "register_strategy", "run_active_learning",
    "split_pool", "summarize", "vote_entropy",
]
