"""Search: strategies behind one signature, the generational loop, the evaluation cache, halving, NSGA-II."""
