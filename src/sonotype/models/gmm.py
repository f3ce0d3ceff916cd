"""GMM baseline: one Gaussian mixture per class on feature frames."""
from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Cholesky factors of the precisions, in scikit-learn's layout."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(covariances)

    def one(cov):
        chol = np.linalg.cholesky(cov)
        return solve_triangular(chol, np.eye(cov.shape[0]), lower=True).T

    if covariance_type == "tied":
        return one(covariances)
    return np.stack([one(c) for c in covariances])


class GMMClassifier(ClassifierMixin, BaseEstimator):
    """Frame classifier with one :class:`~sklearn.mixture.GaussianMixture` per class.

    Frames are scored by the log-likelihood under each class mixture;
    classes get equal priors. A clip is decided by majority vote of its
    frames.

    Parameters
    ----------
    n_components : int, optional
        Components per class. A class with fewer training frames gets as
        many components as it has frames (with a warning).
    covariance_type : {"diag", "full", "tied", "spherical"}, optional
        Covariance type of every mixture.
    max_iter : int, optional
        EM iterations.
    random_state : int or None, optional
        Seed for the mixtures' initialisation.
    reg_covar : float, optional
        Added to the covariance diagonals.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, sorted.
    gmms_ : list of GaussianMixture
        One fitted mixture per class, in ``classes_`` order.
    n_features_in_ : int
        Features per frame seen in :meth:`fit`.
    clip_rule : str
        ``"vote"``.
    receptive_field : int
        0: frames are scored independently.

    Notes
    -----
    :attr:`n_parameters` counts the stored numbers: per class and component
    a weight, a mean vector and the covariance (``2 D + 1`` for diagonal).
    With 3 classes, 256 diagonal components and 60 features that is
    3 x 256 x 121 = 92,928; the paper's 92,416 equals 3 x 256 x 120 + 256
    (means and variances per class plus one set of weights).
    """

    clip_rule = "vote"
    receptive_field = 0

    def __init__(self, n_components=256, covariance_type="diag", max_iter=100,
                 random_state=0, reg_covar=1e-3):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.random_state = random_state
        self.reg_covar = reg_covar

    # -- fitting -----------------------------------------------------------
    def fit(self, X, y):
        """Fit one mixture per class.

        Parameters
        ----------
        X : array-like, shape (n_frames, n_features)
            Feature frames; must be finite.
        y : array-like, shape (n_frames,)
            Frame labels (ints or strings), at least two distinct classes.

        Returns
        -------
        GMMClassifier
            The fitted estimator.
        """
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, "
                             f"got {self.covariance_type!r}")
        if int(self.n_components) < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}")
        X, y = check_X_y(X, y, dtype=np.float64)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"need frames of at least 2 classes, got {len(classes)}")
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.gmms_ = []
        for label in classes:
            frames = X[y == label]
            k = int(self.n_components)
            if len(frames) < k:
                warnings.warn(f"class {label!r} has {len(frames)} frames < n_components={k}; "
                              f"using {len(frames)} components", UserWarning, stacklevel=2)
                k = len(frames)
            gmm = GaussianMixture(n_components=k, covariance_type=self.covariance_type,
                                  max_iter=self.max_iter, random_state=self.random_state,
                                  reg_covar=self.reg_covar)
            self.gmms_.append(gmm.fit(frames))
        return self

    def _check_frames(self, X) -> np.ndarray:
        check_is_fitted(self, "gmms_")
        X = check_array(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted "
                             f"with {self.n_features_in_}")
        return X

    # -- frame-level -------------------------------------------------------
    def frame_log_likelihood(self, X) -> np.ndarray:
        """Log-likelihood of every frame under every class mixture.

        Parameters
        ----------
        X : array-like, shape (n_frames, n_features)

        Returns
        -------
        ndarray, shape (n_frames, n_classes)
        """
        X = self._check_frames(X)
        return np.stack([g.score_samples(X) for g in self.gmms_], axis=1)

    def predict_proba(self, X) -> np.ndarray:
        """Per-frame class posteriors with equal priors, shape (n_frames, n_classes)."""
        ll = self.frame_log_likelihood(X)
        return np.exp(ll - logsumexp(ll, axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """Per-frame labels, shape (n_frames,)."""
        return self.classes_[np.argmax(self.frame_log_likelihood(X), axis=1)]

    # -- clip-level --------------------------------------------------------
    def predict_clip_proba(self, frames) -> np.ndarray:
        """Vote fractions of one clip's frames, shape (n_classes,).

        Parameters
        ----------
        frames : array-like, shape (n_frames, n_features)
            The frames of a single clip (at least one).
        """
        winners = np.argmax(self.frame_log_likelihood(frames), axis=1)
        counts = np.bincount(winners, minlength=len(self.classes_))
        return counts / counts.sum()

    def predict_clip(self, frames):
        """Majority-vote label of one clip; ties go to the class listed first."""
        return self.classes_[int(np.argmax(self.predict_clip_proba(frames)))]

    # -- size and state ----------------------------------------------------
    @property
    def n_parameters(self) -> int:
        """Stored numbers over all class mixtures (weights, means, covariances)."""
        check_is_fitted(self, "gmms_")
        return int(sum(g.weights_.size + g.means_.size + g.covariances_.size
                       for g in self.gmms_))

    def get_state(self) -> dict:
        """Fitted state as numpy arrays and plain Python values (no pickle needed).

        Returns
        -------
        dict
            ``params`` (constructor arguments), ``classes`` (list),
            ``n_features_in``, and per-class lists ``weights``, ``means``,
            ``covariances`` of numpy arrays.
        """
        check_is_fitted(self, "gmms_")
        return {
            "params": dict(self.get_params()),
            "classes": self.classes_.tolist(),
            "n_features_in": int(self.n_features_in_),
            "weights": [np.array(g.weights_) for g in self.gmms_],
            "means": [np.array(g.means_) for g in self.gmms_],
            "covariances": [np.array(g.covariances_) for g in self.gmms_],
        }

    @classmethod
    def from_state(cls, state: dict) -> "GMMClassifier":
        """Rebuild a fitted classifier from :meth:`get_state` output."""
        model = cls(**state["params"])
        model.classes_ = np.asarray(state["classes"])
        model.n_features_in_ = int(state["n_features_in"])
        model.gmms_ = []
        for w, m, c in zip(state["weights"], state["means"], state["covariances"]):
            w, m, c = (np.asarray(a, dtype=np.float64) for a in (w, m, c))
            gmm = GaussianMixture(n_components=len(w), covariance_type=model.covariance_type,
                                  max_iter=model.max_iter, random_state=model.random_state,
                                  reg_covar=model.reg_covar)
            gmm.weights_, gmm.means_, gmm.covariances_ = w, m, c
            gmm.precisions_cholesky_ = _precision_cholesky(c, model.covariance_type)
            gmm.converged_, gmm.n_iter_, gmm.lower_bound_ = True, 0, -np.inf
            gmm.n_features_in_ = m.shape[1]
            model.gmms_.append(gmm)
        if len(model.gmms_) != len(model.classes_):
            raise ValueError("state has a different number of mixtures and classes")
        return model
