# Title: Forgetting requires_grad=True: nothing is tracked, so backward() raises
import torch

torch.manual_seed(0)
inputs = torch.randn(4, 10)
weights = torch.randn(10, 10)  # missing requires_grad=True
loss = (inputs @ weights).pow(2).mean()
loss.backward()  # RuntimeError: element 0 of tensors does not require grad
