"""Vision probing (the paper's RQ1, Table 1): frozen vision-tower features, linear probe heads,
and the MedMNIST v2 vision-only baseline, each written as a normalised record.

- :mod:`.features`  frozen-tower feature extraction (Qwen2-VL / Qwen2.5-VL ``visual`` and a
  generic ``get_image_features`` path) with an on-disk cache
- :mod:`.heads`     the paper's BatchNorm + linear head and a scikit-learn logistic regression
- :mod:`.metrics`   accuracy and AUC as MedMNIST reports them
- :mod:`.baseline`  ResNet-18/50 trained from scratch with the MedMNIST v2 recipe
- :mod:`.runner`    ``medbridge probe`` end to end: data, features, heads, records
- :mod:`.records`   probe and baseline records (same schema as ``medbridge eval``'s)
"""
