"""The joint latent space over image, text and speech embeddings (docs/design.md §4).

``JointEmbeddingModel`` holds one Gaussian encoder and one decoder per modality; the paper's
``ProxyVariableObjective`` trains it with a distance constraint between the modalities'
posteriors (the reference objectives JMVAE-kl, MVAE, MMVAE and regression are alternatives);
``ConditionalGenerator`` turns it into any-to-any generation.
"""

from cemap.joint.checkpoint import joint_checkpoint, load_joint_model, save_joint_model
from cemap.joint.constraints import Constraint, LagrangianConstraint, PenaltyConstraint
from cemap.joint.distances import (
    DISTANCES,
    DiagonalGaussian,
    kl_divergence,
    kl_to_standard_normal,
    mmd,
    symmetric_kl,
    wasserstein2,
)
from cemap.joint.generation import ConditionalGenerator
from cemap.joint.model import JointConfig, JointEmbeddingModel
from cemap.joint.objectives import (
    OBJECTIVES,
    JMVAEObjective,
    MMVAEObjective,
    MVAEObjective,
    Objective,
    ProxyVariableObjective,
    RegressionObjective,
    product_of_experts,
)

__all__ = [
    "DISTANCES",
    "OBJECTIVES",
    "ConditionalGenerator",
    "Constraint",
    "DiagonalGaussian",
    "JointConfig",
    "JMVAEObjective",
    "JointEmbeddingModel",
    "LagrangianConstraint",
    "MMVAEObjective",
    "MVAEObjective",
    "Objective",
    "PenaltyConstraint",
    "ProxyVariableObjective",
    "RegressionObjective",
    "joint_checkpoint",
    "kl_divergence",
    "kl_to_standard_normal",
    "load_joint_model",
    "mmd",
    "product_of_experts",
    "save_joint_model",
    "symmetric_kl",
    "wasserstein2",
]
