"""Forms for documents."""

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class DocumentForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Length(max=20000)])
    # The paper's own date (an invoice's, a letter's); "added" is when it came into the portal.
    document_date = DateField("Document date (optional)", validators=[Optional()])
    submit = SubmitField("Save")
