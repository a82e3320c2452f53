# Title: Gradients add up: backward of 2x then of 3x leaves x.grad = 2 + 3 = 5
import torch

x = torch.tensor([1.0], requires_grad=True)

y1 = x * 2
y1.backward()
print(x.grad)  # tensor([2.])

y2 = x * 3
y2.backward()
print(x.grad)  # tensor([5.]): accumulated, not replaced
