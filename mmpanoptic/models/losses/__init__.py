from .weighted_dice_loss import WeightedDiceLoss  # noqa: F401
from .panoptic_matching_loss import PanopticMatchingLoss  # noqa: F401
from .roi_mask_lovasz_loss import RoIMaskLovaszHingeLoss  # noqa: F401
