import { EuiButton, EuiEmptyPrompt } from '@elastic/eui';
import { useNavigate } from 'react-router-dom';

export function NotFoundPage() {
  const navigate = useNavigate();
  return (
    <EuiEmptyPrompt
      iconType="search"
      title={<h1>Page not found</h1>}
      body={<p>There is no console page at this address.</p>}
      actions={<EuiButton onClick={() => void navigate('/')}>Go to the overview</EuiButton>}
    />
  );
}
