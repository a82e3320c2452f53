# Title: Changing in place a tensor that backward still needs raises at backward time
# y = a**2 saved a for its backward; a.add_(1) bumps a's version, so backward refuses.
import torch

x = torch.tensor([1.0, 2.0], requires_grad=True)
a = x * 2
y = (a ** 2).sum()
a.add_(1)  # allowed (a is not a leaf), but it invalidates the saved a
y.backward()  # RuntimeError: one of the variables needed for gradient computation has been modified
