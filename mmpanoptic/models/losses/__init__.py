from .weighted_dice_loss import WeightedDiceLoss  # noqa: F401
