# Title: Leaf vs non-leaf tensors: only tensors you create yourself are leaves
import torch

a = torch.tensor([1.0], requires_grad=True)
b = a * 2
c = b * 2
print(a.is_leaf)  # True
print(b.is_leaf)  # False
print(c.is_leaf)  # False
