# Title: Define-by-run: a Python if on x.mean() decides which graph gets built
# Only the branch actually taken is recorded; its backward gives 2x or 3x**2.
import torch


def forward_with_condition(x, threshold):
    if x.mean() > threshold:
        return x ** 2
    else:
        return x ** 3


torch.manual_seed(0)
x = torch.randn(3, 3, requires_grad=True)
loss = forward_with_condition(x, 0.5).sum()
loss.backward()

print("mean > 0.5:", bool(x.mean() > 0.5))
print(torch.allclose(x.grad, 3 * x.detach() ** 2))  # True: the x**3 branch was taken
