"""The RL loop: rollouts, rewards, RFT and DAPO iterations, resumable runs."""
