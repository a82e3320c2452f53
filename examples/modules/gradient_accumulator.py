# Title: Summing gradients over several micro-batches by hand, then one optimizer step
import torch

torch.manual_seed(0)


class LinearModel(torch.nn.Module):
    def __init__(self, input_dim, output_dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(input_dim, output_dim))
        self.bias = torch.nn.Parameter(torch.randn(output_dim))

    def forward(self, x):
        return x @ self.weight + self.bias


class GradientAccumulator:
    def __init__(self, model):
        self.model = model
        self.accumulated_grads = {}
        for name, param in model.named_parameters():
            self.accumulated_grads[name] = torch.zeros_like(param)

    def accumulate(self):
        for name, param in self.model.named_parameters():
            if param.grad is not None:
                self.accumulated_grads[name] += param.grad

    def apply(self, optimizer):
        for name, param in self.model.named_parameters():
            # clone: otherwise param.grad shares memory with the buffer that reset() zeroes
            param.grad = self.accumulated_grads[name].clone()
        optimizer.step()
        self.reset()

    def reset(self):
        for name in self.accumulated_grads:
            self.accumulated_grads[name].zero_()


model = LinearModel(3, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
accumulator = GradientAccumulator(model)
loss_fn = torch.nn.MSELoss()

for step in range(3):  # three micro-batches, three backward passes
    inputs, targets = torch.randn(4, 3), torch.randn(4, 2)
    model.zero_grad()  # param.grad holds only this micro-batch...
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    accumulator.accumulate()  # ...and the accumulator keeps the running sum
accumulator.apply(optimizer)  # one step with the summed gradients
