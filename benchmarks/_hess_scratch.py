import time

import lslib
from lslib import hessian as H
from lslib.config import TrainConfig
from lslib.train import train

d = lslib.load_mnist()
x, y = d.test.x[:128], d.test.y[:128]
m = train(TrainConfig(model="mlp", width=128, epochs=1, subset=10000), progress=False).model()
for method in ["graph", "func"]:
    h = H.HVP(m, x, y, method=method)
    t = time.perf_counter()
    e = H.top_eigen(h, k=3)
    dt = time.perf_counter() - t
    print(method, e.values, e.residuals, e.hvps, dt, dt / h.calls)
