import os
import sys

# The benchmark modules import their shared case definitions by plain module name.
sys.path.insert(0, os.path.dirname(__file__))
