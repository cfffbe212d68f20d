"""Admin forms: the checks a person can fail are shown on the form, next to the field."""

from __future__ import annotations

from django import forms
from django.forms.models import BaseInlineFormSet

from apps.challenges.models import PLAN_FIELDS, RULESET_FIELDS, Plan, RuleSet
from apps.challenges.services import MAX_PHASES


class _FamilyCodeForm(forms.ModelForm):
    """A new family's code must be new: other versions are made with "New draft"."""

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        model = self._meta.model
        taken = model.objects.filter(code=code).exclude(pk=self.instance.pk).exists()
        if taken:
            raise forms.ValidationError(
                f"“{code}” is an existing family: select one of its versions and use "
                "“New draft from this version”, or choose another code."
            )
        return code


class RuleSetAdminForm(_FamilyCodeForm):
    class Meta:
        model = RuleSet
        fields = RULESET_FIELDS


class PlanAdminForm(_FamilyCodeForm):
    class Meta:
        model = Plan
        fields = PLAN_FIELDS


class PlanPhaseFormSet(BaseInlineFormSet):
    """Phases are numbered 1 to n (at most three) without gaps."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        numbers = sorted(
            form.cleaned_data["number"]
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("number") is not None
        )
        if len(numbers) > MAX_PHASES:
            raise forms.ValidationError("A plan has at most three evaluation phases.")
        missing = [n for n in range(1, len(numbers) + 1) if n not in numbers]
        if missing:
            raise forms.ValidationError(
                f"Number the phases 1 to {len(numbers)} without gaps: phase {missing[0]} "
                "is missing."
            )
