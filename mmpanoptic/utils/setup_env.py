"""Register mmpanoptic's modules and make ``mmpanoptic`` the default scope."""
import datetime
import warnings


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmpanoptic module so its classes are registered.

    mmdet's and mmseg's modules are registered too, so that configs can use
    ``type='mmdet.X'`` and ``type='mmseg.X'`` without further imports.

    Args:
        init_default_scope (bool): Make ``mmpanoptic`` the current default
            scope. If another default scope is current, a new uniquely named
            ``mmpanoptic`` scope instance is created and made current.
    """
    import mmdet.utils
    mmdet.utils.register_all_modules(init_default_scope=False)
    import mmseg.utils
    mmseg.utils.register_all_modules(init_default_scope=False)

    import mmpanoptic.datasets  # noqa: F401
    import mmpanoptic.engine  # noqa: F401
    import mmpanoptic.evaluation.metrics  # noqa: F401
    import mmpanoptic.models  # noqa: F401
    import mmpanoptic.visualization  # noqa: F401

    if not init_default_scope:
        return
    from mmengine import DefaultScope
    current = DefaultScope.get_current_instance()
    never_created = current is None or not DefaultScope.check_instance_created(
        'mmpanoptic')
    if never_created:
        DefaultScope.get_instance('mmpanoptic', scope_name='mmpanoptic')
        return
    if current.scope_name != 'mmpanoptic':
        warnings.warn('The current default scope '
                      f'"{current.scope_name}" is not "mmpanoptic"; '
                      '`register_all_modules` will force it to be '
                      '"mmpanoptic".')
        new_name = f'mmpanoptic-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_name, scope_name='mmpanoptic')
