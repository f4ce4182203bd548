"""Where moto answers differently from AWS in a way gascale's tests meet,
moto is mended here, each with the AWS documentation that says otherwise.
Imported by launch.py before the server starts.
"""

from moto.autoscaling.models import FakeAutoScalingGroup


def _keep_unchanged_mixed_instances_policy():
    """UpdateAutoScalingGroup: "If you do not specify a parameter, its value
    is not changed" (Amazon EC2 Auto Scaling API reference,
    UpdateAutoScalingGroup). moto 5.2.5 drops the group's mixed instances
    policy whenever an update does not repeat it (models.py `update`), so a
    size changed in the console would lose the group's instance types."""
    original = FakeAutoScalingGroup.update

    def update(self, *args, **kwargs):
        sends = any(kwargs.get(k) for k in ("mixed_instances_policy", "launch_template", "launch_config_name"))
        kept = {k: v for k, v in self.__dict__.items() if k.startswith("launch_") or k == "mixed_instances_policy"}
        original(self, *args, **kwargs)
        if not sends and not args:
            self.__dict__.update(kept)

    FakeAutoScalingGroup.update = update


def apply():
    _keep_unchanged_mixed_instances_policy()
