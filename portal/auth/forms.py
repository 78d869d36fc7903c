"""Forms of sign-in, setup, one's own account, reset links and account administration."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.auth.service import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in")
    submit = SubmitField("Sign in")


class UserForm(FlaskForm):
    """A new account: first-run administrator, or staff created by an admin."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField(
        "Repeat the password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")]
    )
    is_admin = BooleanField("Administrator")
    submit = SubmitField("Create account")


class PasswordChangeForm(FlaskForm):
    """One's own new password; the current one proves it is really them."""

    current = PasswordField("Current password", validators=[DataRequired()])
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField(
        "Repeat the new password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")]
    )
    submit = SubmitField("Change password")


class ProfileForm(FlaskForm):
    """One's own name and email (a new email needs the current password)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    confirm_password = PasswordField("Current password (needed to change the email)")
    submit = SubmitField("Save")


class ResetForm(FlaskForm):
    """A new password chosen through a reset link."""

    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField(
        "Repeat the new password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")]
    )
    submit = SubmitField("Set password")


class ForgotForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    submit = SubmitField("Send me a link")


class EditUserForm(FlaskForm):
    """An administrator's edit of an account; a change of role or status needs ``confirm`` ticked."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    is_admin = BooleanField("Administrator")
    is_active = BooleanField("Active (may sign in)")
    confirm = BooleanField("Yes, change this account's role or status")
    submit = SubmitField("Save")


class ConfirmForm(FlaskForm):
    """A button form that carries only its CSRF token."""
