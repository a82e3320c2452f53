# Title: Training a hand-written linear layer on XOR for 1000 epochs with manual SGD
# A linear model cannot fit XOR: the loss settles near 0.25 and every prediction near 0.5.
import torch

torch.manual_seed(0)


class ManualLinear:  # a linear layer without nn.Module
    def __init__(self, in_features, out_features):
        self.weight = torch.randn(out_features, in_features, requires_grad=True)
        self.bias = torch.randn(out_features, requires_grad=True)

    def forward(self, x):
        return x @ self.weight.t() + self.bias


model = ManualLinear(2, 1)
weight, bias = model.weight, model.bias  # top-level names for the two leaf tensors
X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)

for epoch in range(1000):
    pred = model.forward(X)
    loss = ((pred - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():  # the update itself must not be recorded
        model.weight -= 0.01 * model.weight.grad
        model.bias -= 0.01 * model.bias.grad
    model.weight.grad.zero_()
    model.bias.grad.zero_()
    if epoch % 200 == 0:
        print(f"Epoch {epoch}, Loss: {loss.item():.4f}")

with torch.no_grad():
    test_pred = model.forward(X)
print("Predictions:", test_pred.flatten())
