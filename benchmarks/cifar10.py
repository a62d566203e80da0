"""CNN-GA on CIFAR-10 with CNN-GA's published search settings.

    python -m scoop benchmarks/cifar10.py --data-dir ~/data --download
    python -m scoop -n 4 benchmarks/cifar10.py --out runs/cifar10 --resume

Population 20, 20 generations, 0.9 crossover, 0.2 mutation, fitness on a 10%
validation split; the best architecture is retrained on the whole training set
and its test accuracy reported once. ``--help`` lists every option.
"""

from deap_cnn.run import main

if __name__ == "__main__":
    main(data="cifar10", data_dir="data", out="runs/cifar10", epochs=10, final_epochs=100)
